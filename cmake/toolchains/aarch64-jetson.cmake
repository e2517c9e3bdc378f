# Cross-compiling for a Jetson (aarch64, JetPack) from an x86-64 Linux host.
#
#   cmake -S . -B build/aarch64 \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-jetson.cmake \
#     -DJETSON_DEPS=build/jetson-deps            # scripts/jetson_setup.sh fills it
#
# Inputs (cache variables or environment variables of the same name):
#   JETSON_SYSROOT   a copy of the device's root file system (JetPack's TensorRT in
#                    usr/include/aarch64-linux-gnu and usr/lib/aarch64-linux-gnu,
#                    CUDA in usr/local/cuda). Optional: without it the cross
#                    compiler's own glibc is used and the prefixes below stand in.
#   JETSON_DEPS      the folder scripts/jetson_setup.sh fills: executorch/ (the
#                    cp310 aarch64 wheel's package), cuda/ (the CUDA runtime wheel),
#                    flatbuffers/, tensorrt/ (headers + link stubs made by
#                    scripts/jetson_cross_test.sh). Its prefixes are used only for
#                    the variables not given on the command line.
#   JETSON_CROSS_PREFIX  compiler prefix, default aarch64-linux-gnu- (Debian/Ubuntu).
#
# Everything the project finds (ExecuTorch, CUDA, TensorRT, flatbuffers) goes through
# CMakeLists.txt's usual variables (EXECUTORCH_ROOT, CUDAToolkit_ROOT, TensorRT_ROOT,
# FLATBUFFERS_INCLUDE_DIR); this file only fills their defaults.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

# Toolchain files run again for try_compile projects; pass our inputs along.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES
     JETSON_SYSROOT JETSON_DEPS JETSON_CROSS_PREFIX)
foreach(_jetson_var JETSON_SYSROOT JETSON_DEPS JETSON_CROSS_PREFIX)
  if(NOT DEFINED ${_jetson_var} AND DEFINED ENV{${_jetson_var}})
    set(${_jetson_var} "$ENV{${_jetson_var}}")
  endif()
endforeach()
if(NOT DEFINED JETSON_CROSS_PREFIX)
  set(JETSON_CROSS_PREFIX aarch64-linux-gnu-)
endif()

find_program(_jetson_cxx ${JETSON_CROSS_PREFIX}g++)
find_program(_jetson_cc ${JETSON_CROSS_PREFIX}gcc)
if(NOT _jetson_cxx OR NOT _jetson_cc)
  message(FATAL_ERROR
    "aarch64-jetson toolchain: ${JETSON_CROSS_PREFIX}g++ not found; install "
    "g++-aarch64-linux-gnu (scripts/jetson_setup.sh) or set JETSON_CROSS_PREFIX")
endif()
set(CMAKE_CXX_COMPILER "${_jetson_cxx}")
set(CMAKE_C_COMPILER "${_jetson_cc}")

# The compiler's own target root (Debian: /usr/aarch64-linux-gnu) unless a device
# sysroot is given.
if(JETSON_SYSROOT)
  get_filename_component(JETSON_SYSROOT "${JETSON_SYSROOT}" ABSOLUTE)
  set(CMAKE_SYSROOT "${JETSON_SYSROOT}")
  set(_jetson_target_root "${JETSON_SYSROOT}")
else()
  # Debian's cross compiler has no sysroot of its own (-print-sysroot says "/"): its
  # target root is where its libc lives, /usr/aarch64-linux-gnu.
  execute_process(COMMAND "${_jetson_cc}" -print-file-name=libc.so.6
                  OUTPUT_VARIABLE _jetson_libc OUTPUT_STRIP_TRAILING_WHITESPACE)
  get_filename_component(_jetson_libc "${_jetson_libc}" REALPATH)
  get_filename_component(_jetson_target_root "${_jetson_libc}/../.." ABSOLUTE)
  if(NOT IS_ABSOLUTE "${_jetson_libc}" OR _jetson_target_root STREQUAL "/")
    message(FATAL_ERROR "aarch64-jetson toolchain: cannot locate the target's libc "
      "(${_jetson_cc} -print-file-name=libc.so.6 gave '${_jetson_libc}'): install "
      "libc6-dev-arm64-cross or set JETSON_SYSROOT")
  endif()
endif()

# Search the target's files only (never the host's x86-64 libraries); programs
# (python, flatc) are the host's.
set(CMAKE_FIND_ROOT_PATH "${_jetson_target_root}")
if(JETSON_DEPS)
  get_filename_component(JETSON_DEPS "${JETSON_DEPS}" ABSOLUTE)
  list(APPEND CMAKE_FIND_ROOT_PATH "${JETSON_DEPS}")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Only the test double has CUDA code, and no nvcc here targets aarch64 (a device
# root file system's nvcc is an aarch64 program): cross builds leave it out.
set(EXECUTORCH_TENSORRT_TESTS_CPU_ONLY ON CACHE BOOL
    "Build only the tests that need no GPU, without CUDA kernels (cross builds)")

# Defaults from JETSON_DEPS for what was not given. A device sysroot has CUDA in
# usr/local/cuda and TensorRT in the multiarch folders, found without help.
if(JETSON_DEPS)
  if(NOT DEFINED EXECUTORCH_ROOT AND EXISTS "${JETSON_DEPS}/executorch/lib/libexecutorch.so")
    set(EXECUTORCH_ROOT "${JETSON_DEPS}/executorch" CACHE PATH "executorch package directory")
  endif()
  if(NOT DEFINED FLATBUFFERS_INCLUDE_DIR AND EXISTS "${JETSON_DEPS}/flatbuffers/include/flatbuffers/flatbuffers.h")
    set(FLATBUFFERS_INCLUDE_DIR "${JETSON_DEPS}/flatbuffers/include" CACHE PATH "flatbuffers headers")
  endif()
  if(NOT JETSON_SYSROOT)
    if(NOT DEFINED CUDAToolkit_ROOT AND EXISTS "${JETSON_DEPS}/cuda/version.txt")
      set(CUDAToolkit_ROOT "${JETSON_DEPS}/cuda")
    endif()
    if(NOT DEFINED TensorRT_ROOT AND EXISTS "${JETSON_DEPS}/tensorrt/include/NvInfer.h")
      set(TensorRT_ROOT "${JETSON_DEPS}/tensorrt" CACHE PATH "TensorRT headers and link stubs")
    endif()
  endif()
elseif(JETSON_SYSROOT AND NOT DEFINED CUDAToolkit_ROOT)
  set(CUDAToolkit_ROOT "${JETSON_SYSROOT}/usr/local/cuda")
endif()

# Tests run under qemu's user-mode emulator where it is installed (ctest, and CMake
# itself for try_run); the target's loader and libraries come from the target root.
find_program(_jetson_qemu NAMES qemu-aarch64-static qemu-aarch64)
if(_jetson_qemu)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${_jetson_qemu};-L;${_jetson_target_root}")
endif()
