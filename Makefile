# Two commands for a newcomer: `make demo` and `make test` (both create .venv on first use).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-compat lint venv browser clean

venv: $(STAMP)

# torch is pinned explicitly: a bare `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/inspatio-drive demo

# The report viewer is tested in a real headless Chromium (Debian's package, driven by Playwright).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	      echo "installing Debian's chromium for the viewer tests"; \
	      apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
	      echo "WARNING: could not install chromium: the browser test of the viewer will be skipped"; \
	    else echo "NOTE: no chromium (install it, or set CHROMIUM_PATH): the browser test of the viewer is skipped"; fi; }

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2 --dist loadfile

# The oldest supported numpy / pandas / pyarrow (pyproject's floors, as in a navsim environment) in their own venv,
# layered over .venv (whose packages it sees through a .pth, so torch etc. are not installed twice); pip picks the
# numpy-1 builds of the compiled packages. Runs the plugin, data, PDM and evaluation tests there (not the slow ones,
# nor the worker-pool / study tests, whose numpy use the main run covers).
COMPAT_VENV  ?= .venv-compat
COMPAT_PY    := $(COMPAT_VENV)/bin/python
COMPAT_STAMP := $(COMPAT_VENV)/.installed
COMPAT_PINS  := numpy==1.24.4 pandas==2.0.3 pyarrow==16.0.0
COMPAT_ABI   := scipy shapely matplotlib opencv-python-headless
COMPAT_TESTS := tests/inspatio_drive/navsim_plugin tests/inspatio_drive/data tests/inspatio_drive/pdm \
                tests/inspatio_drive/evaluation tests/inspatio_drive/sandbox/test_navsim_dataset.py
# The PDM room's savgol fast path is bit-identical to scipy >= 1.16 only (1 ulp off under scipy 1.15, the newest
# scipy for numpy 1.24): a known difference of the oldest environment, not a failure of it.
COMPAT_SKIP  := --ignore=tests/inspatio_drive/evaluation/test_study.py \
                --ignore=tests/inspatio_drive/evaluation/test_runner.py \
                --deselect=tests/inspatio_drive/pdm/test_scorer_fast_paths.py::test_savgol_bit_identical_to_scipy \
                --deselect=tests/inspatio_drive/pdm/test_scorer_fast_paths.py::test_savgol_any_leading_shape_bit_identical_to_scipy

$(COMPAT_STAMP): $(STAMP) pyproject.toml Makefile
	rm -rf $(COMPAT_VENV)
	$(PY) -m venv $(COMPAT_VENV)
	$(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > \
	  "$$($(COMPAT_PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_main_venv.pth"
	$(COMPAT_PY) -m pip install -q --disable-pip-version-check $(COMPAT_PINS) $(COMPAT_ABI)
	touch $@

test-compat: $(COMPAT_STAMP)
	$(COMPAT_PY) -c 'import numpy, pandas, pyarrow, sys; print("test-compat: python", sys.version.split()[0], \
	  "numpy", numpy.__version__, "pandas", pandas.__version__, "pyarrow", pyarrow.__version__)'
	$(COMPAT_PY) -m pytest -n 2 --dist loadfile -m "not slow" $(COMPAT_SKIP) $(COMPAT_TESTS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(COMPAT_VENV) build *.egg-info .pytest_cache
