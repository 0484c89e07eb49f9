# Third-party dependencies, all from Debian 12 packages (tools/setup.sh installs them).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Protobuf REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PNG REQUIRED)
find_package(MPI COMPONENTS C)

# OpenBLAS, the OpenMP build, so BLAS threads are libgomp threads shared with our kernels.
find_path(OPENBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/openblas NO_DEFAULT_PATH)
find_library(OPENBLAS_LIBRARY openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
if(NOT OPENBLAS_INCLUDE_DIR OR NOT OPENBLAS_LIBRARY)
  message(FATAL_ERROR "OpenBLAS (OpenMP build) not found: run tools/setup.sh "
                      "(package libopenblas-openmp-dev)")
endif()
add_library(attnlab_blas INTERFACE)
target_include_directories(attnlab_blas SYSTEM INTERFACE ${OPENBLAS_INCLUDE_DIR})
target_link_libraries(attnlab_blas INTERFACE ${OPENBLAS_LIBRARY} OpenMP::OpenMP_CXX)

# CUDA: enabled when nvcc is found (the backend then compiles and links even without a GPU).
set(ATTNLAB_HAVE_CUDA OFF)
if(ATTNLAB_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Hopper machine code (sm_90a: wgmma, TMA) plus generic compute_80 PTX that the driver
    # compiles for any newer GPU; kernels that need sm_90a features guard them by __CUDA_ARCH__.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90a-real 80-virtual)
    endif()
    enable_language(CUDA)
    # CMake 3.25 knows no CUDA20 flags for nvcc; device code needs only C++17.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    set(ATTNLAB_HAVE_CUDA ON)
  endif()
endif()
message(STATUS "attnlab: CUDA backend ${ATTNLAB_HAVE_CUDA}")
