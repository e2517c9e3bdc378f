"""The project's PEP 517 build backend: one pyproject, two builds.

* Editable installs (``pip install -e .``, what scripts/setup.sh does): setuptools,
  Python only, seconds. The C++ runtime is built with CMake where it is needed
  (README "Runtime"), so a development install never compiles.
* Wheels (``pip install --no-build-isolation .``, ``python -m build --no-isolation
  --wheel``): scikit-build-core runs the top-level CMakeLists.txt with
  cmake/wheel.cmake, which adds the Python runtime's extension and the backend
  library built against the environment's executorch and TensorRT (pyproject's
  [tool.scikit-build]). No isolation: the wheel is built against the executorch
  that is installed, which an isolated build environment does not have.
"""

from __future__ import annotations

from setuptools import build_meta as _setuptools

get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
build_editable = _setuptools.build_editable

_WHEEL_REQUIRES = ["scikit-build-core>=0.10", "nanobind>=2.0"]


def _skbuild():
    try:
        from scikit_build_core import build
    except ImportError as e:  # an isolated build installs _WHEEL_REQUIRES first
        raise ImportError(
            "building the wheel needs scikit-build-core and nanobind: pip install "
            "scikit-build-core nanobind, then pip install --no-build-isolation ."
        ) from e
    return build


def get_requires_for_build_wheel(config_settings=None):
    return list(_WHEEL_REQUIRES)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _skbuild().prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _skbuild().build_wheel(wheel_directory, config_settings, metadata_directory)


def get_requires_for_build_sdist(config_settings=None):
    return list(_WHEEL_REQUIRES)


def build_sdist(sdist_directory, config_settings=None):
    return _skbuild().build_sdist(sdist_directory, config_settings)
