# The wheel build (pip install . / python -m build, through scikit-build-core, which
# sets SKBUILD): defaults for what a wheel needs, included before TensorRT is looked
# for. A wheel holds the Python package, the Python runtime's extension and the
# backend library built against a real TensorRT:
#   x86-64: TensorRT-RTX, the vendored RTX 1.6.1 headers and the tensorrt_rtx_libs
#           of the build environment (pip install tensorrt-rtx-cu13-libs), unless
#           TensorRT_INCLUDE_DIR / TensorRT_LIB_DIR say otherwise;
#   aarch64 (JetPack 6, cross): whatever the toolchain file and its caller give
#           (scripts/jetson_wheel.sh: TensorRT 10.3 headers and link stubs).
set(EXECUTORCH_TENSORRT_BUILD_PYTHON ON CACHE BOOL "" FORCE)
set(EXECUTORCH_TENSORRT_BUILD_TESTS OFF CACHE BOOL "")
set(EXECUTORCH_TENSORRT_BUILD_REAL_TESTS OFF CACHE BOOL "")
if(EXECUTORCH_TENSORRT_TEST_DOUBLE)
  message(FATAL_ERROR "a wheel never ships the TensorRT test double")
endif()
if(NOT TensorRT_INCLUDE_DIR AND NOT TensorRT_ROOT AND NOT DEFINED ENV{TensorRT_ROOT})
  set(TensorRT_INCLUDE_DIR "${CMAKE_CURRENT_SOURCE_DIR}/third_party/tensorrt-headers/tensorrt-rtx-1.6.1/include"
      CACHE PATH "")
  if(NOT TensorRT_LIB_DIR AND Python_EXECUTABLE)
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -c
              "import importlib.util as u; s = u.find_spec('tensorrt_rtx_libs'); print(list(s.submodule_search_locations)[0] if s else '')"
      OUTPUT_VARIABLE _etrt_rtx_libs OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT _etrt_rtx_libs)
      message(FATAL_ERROR
        "the wheel links TensorRT-RTX: install tensorrt-rtx-cu13-libs in the build "
        "environment (pip install --no-build-isolation . from the project's venv), or "
        "pass -C cmake.define.TensorRT_INCLUDE_DIR=... -C cmake.define.TensorRT_LIB_DIR=...")
    endif()
    set(TensorRT_LIB_DIR "${_etrt_rtx_libs}" CACHE PATH "")
  endif()
endif()
# Installed as site-packages/executorch_tensorrt/runtime/lib/: the executorch wheel's
# libexecutorch.so, the TensorRT-RTX and CUDA runtime pip wheels where those are the
# providers; a system TensorRT/CUDA (JetPack) is found by the loader's usual search.
set(ETRT_WHEEL_BACKEND_RPATH
    "$ORIGIN/../../../executorch/lib;$ORIGIN/../../../tensorrt_rtx_libs;$ORIGIN/../../../tensorrt_libs;$ORIGIN/../../../nvidia/cu13/lib;$ORIGIN/../../../nvidia/cuda_runtime/lib")
