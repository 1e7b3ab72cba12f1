"""Back ends by target name; each module offers write(hw_graph, out_dir) and run(build_dir, x)."""
