# Finds LibTorch for tsrt, and says where it came from. Two ways, in this order:
#
#  1. LibTorch's own convention: Torch_DIR, or a prefix in CMAKE_PREFIX_PATH that holds
#     Torch/TorchConfig.cmake (an unpacked LibTorch zip, or a torch wheel's share/cmake).
#     No Python is involved: a C++ build image with LibTorch in it builds libtsrt as is.
#  2. Else the torch of a Python (Python_EXECUTABLE, the checkout's .venv, or the one on
#     PATH): torch.utils.cmake_prefix_path.
#
# The Python module tsrt._C must link the very libtorch that `import torch` loads (two
# copies clash in one process), so a build of it (pip install, scikit-build-core) takes
# way 2 first: the torch of the Python it builds for.
#
# Sets: TORCH_PYTHON_VERSION (the torch release), TORCH_LIB_DIR, TORCH_HAS_CUDA,
# _tsrt_torch_prefix (the directory holding Torch/TorchConfig.cmake), and imports Torch's
# targets (torch, torch_cpu, c10, ...) via find_package(Torch CONFIG).

# Way 2: ask a Python's torch. Sets _tsrt_torch_prefix, or fails with what to do. A macro:
# the Python it finds (Python_EXECUTABLE) is the one the rest of the build uses too.
macro(_tsrt_torch_prefix_from_python)
  # The project's .venv (make setup) when no Python is named: a plain
  # `cmake -S . -B b` in a checkout then builds against the torch the tests use.
  if(NOT Python_EXECUTABLE AND EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin/python")
    set(Python_EXECUTABLE "${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python whose torch tsrt builds against")
  endif()
  if(NOT Python_EXECUTABLE)
    find_package(Python 3.9 COMPONENTS Interpreter)
    if(NOT Python_FOUND)
      message(FATAL_ERROR "tsrt: LibTorch not found. Give its CMake package the LibTorch way, "
        "-DCMAKE_PREFIX_PATH=/path/to/libtorch (or -DTorch_DIR=/path/to/libtorch/share/cmake/Torch), "
        "or name a Python whose torch to use with -DPython_EXECUTABLE=...")
    endif()
  endif()
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _tsrt_prefix RESULT_VARIABLE _tsrt_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _tsrt_rc EQUAL 0)
    message(FATAL_ERROR "tsrt: '${Python_EXECUTABLE} -c \"import torch\"' failed. Install torch into this Python "
      "first (make setup does), and build tsrt with `pip install --no-build-isolation .`: pip's build isolation "
      "hides the torch already installed (and would build against another one). Or give LibTorch the C++ way: "
      "-DCMAKE_PREFIX_PATH=/path/to/libtorch.")
  endif()
  set(_tsrt_torch_prefix "${_tsrt_prefix}")
  set(_tsrt_torch_source "the torch of ${Python_EXECUTABLE}")
endmacro()

if(DEFINED SKBUILD_PLATLIB_DIR OR (TSRT_BUILD_PYTHON AND Python_EXECUTABLE))
  _tsrt_torch_prefix_from_python()
  list(PREPEND CMAKE_PREFIX_PATH "${_tsrt_torch_prefix}")
  find_package(Torch CONFIG REQUIRED)
else()
  # Way 1, quietly: when it fails, way 2 says what to do.
  find_package(Torch CONFIG QUIET)
  if(Torch_FOUND)
    set(_tsrt_torch_source "Torch_DIR / CMAKE_PREFIX_PATH")
  else()
    _tsrt_torch_prefix_from_python()
    list(PREPEND CMAKE_PREFIX_PATH "${_tsrt_torch_prefix}")
    find_package(Torch CONFIG REQUIRED)
  endif()
endif()

# What the rest of the build and tsrtConfig.cmake need, from Torch's own CMake package
# (the same answers whichever way found it).
get_filename_component(_tsrt_torch_prefix "${Torch_DIR}/.." ABSOLUTE)
set(TORCH_PYTHON_VERSION "${Torch_VERSION}")
# TorchConfig.cmake sets TORCH_INSTALL_PREFIX (holding lib/libtorch.so) and, for a CUDA
# build, TORCH_CUDA_LIBRARIES.
set(TORCH_LIB_DIR "${TORCH_INSTALL_PREFIX}/lib")
if(TORCH_CUDA_LIBRARIES)
  set(TORCH_HAS_CUDA 1)
else()
  set(TORCH_HAS_CUDA 0)
endif()
message(STATUS "tsrt: torch ${TORCH_PYTHON_VERSION} (CUDA build: ${TORCH_HAS_CUDA}) from ${Torch_DIR}, found via ${_tsrt_torch_source}")
