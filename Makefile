# The two commands a newcomer needs: `make demo` and `make test` (both set up first).
PY ?= python
OUT ?= out

.PHONY: setup setup-demo setup-system demo test lint

setup-demo:
	bash scripts/setup-demo.sh

setup:
	bash scripts/setup-test.sh

setup-system:
	bash scripts/setup-system.sh

demo: setup-demo
	$(PY) examples/digits/make_inputs.py $(OUT)/digits
	snncompile examples/digits/digits.pt --target loihi2 -o $(OUT)/digits/build
	snncompile verify examples/digits/digits.pt --target loihi2 \
	    --input $(OUT)/digits/test_x.npy --labels $(OUT)/digits/test_y.npy

test: setup setup-system lint
	$(PY) -m pytest -q -p no:cacheprovider

lint:
	ruff check snncompile tests examples benchmarks
	$(PY) -m mypy
