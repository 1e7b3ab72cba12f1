"""What the command line needs besides click: tables, progress, did-you-mean, Ctrl-C handling and
the printed forms of reports. cli.py stays a list of options, each one api keyword."""
