# Finds LibTorch inside the torch that the project's Python has installed, so that
# libtsrt, infer and tsrt._C link the very libtorch that `import torch` loads. A
# second copy (a downloaded LibTorch zip) would clash with it inside one process.
#
# Sets: TORCH_PYTHON_VERSION, TORCH_LIB_DIR, TORCH_HAS_CUDA, and imports Torch's
# targets (torch, torch_cpu, c10, ...) via find_package(Torch CONFIG).

# The project's .venv (make setup) when no Python is named: a plain
# `cmake -S . -B b` in a checkout then builds against the torch the tests use.
if(NOT Python_EXECUTABLE AND EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin/python")
  set(Python_EXECUTABLE "${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python whose torch tsrt builds against")
endif()
if(NOT Python_EXECUTABLE)
  find_package(Python 3.9 REQUIRED COMPONENTS Interpreter)
endif()

execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import torch, torch.utils, os; print(torch.utils.cmake_prefix_path); print(torch.__version__); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(os.path.join(os.path.dirname(torch.__file__), 'lib')); print(int(torch.backends.cuda.is_built()))"
  OUTPUT_VARIABLE _tsrt_torch_info
  RESULT_VARIABLE _tsrt_torch_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _tsrt_torch_rc EQUAL 0)
  message(FATAL_ERROR "tsrt: '${Python_EXECUTABLE} -c \"import torch\"' failed. Install torch into this Python first (make setup does).")
endif()
string(REPLACE "\n" ";" _tsrt_torch_info "${_tsrt_torch_info}")
list(GET _tsrt_torch_info 0 _tsrt_torch_prefix)
list(GET _tsrt_torch_info 1 TORCH_PYTHON_VERSION)
list(GET _tsrt_torch_info 2 _tsrt_cxx11_abi)
list(GET _tsrt_torch_info 3 TORCH_LIB_DIR)
list(GET _tsrt_torch_info 4 TORCH_HAS_CUDA)

list(PREPEND CMAKE_PREFIX_PATH "${_tsrt_torch_prefix}")
# Torch's config looks for CUDA and warns about kineto when they are absent; the
# CPU wheel needs neither, so keep the log readable.
find_package(Torch CONFIG REQUIRED)
message(STATUS "tsrt: torch ${TORCH_PYTHON_VERSION} (CUDA build: ${TORCH_HAS_CUDA}, CXX11 ABI: ${_tsrt_cxx11_abi}) from ${_tsrt_torch_prefix}")
