# Every dependency comes from Debian (scripts/setup installs them).
find_package(OpenMP REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# FFTW3 in double and float, with its OpenMP threads library.
find_path(FFTW3_INCLUDE_DIR fftw3.h REQUIRED)
foreach(lib fftw3 fftw3f fftw3_omp fftw3f_omp)
  find_library(${lib}_LIBRARY ${lib} REQUIRED)
endforeach()
add_library(spire_fftw INTERFACE)
target_include_directories(spire_fftw INTERFACE ${FFTW3_INCLUDE_DIR})
target_link_libraries(spire_fftw INTERFACE
  ${fftw3_omp_LIBRARY} ${fftw3f_omp_LIBRARY} ${fftw3_LIBRARY} ${fftw3f_LIBRARY})

set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
# xsimd is header-only; Debian's config drags in xtl, which we do not use.
find_path(XSIMD_INCLUDE_DIR xsimd/xsimd.hpp REQUIRED)
add_library(spire_xsimd INTERFACE)
target_include_directories(spire_xsimd INTERFACE ${XSIMD_INCLUDE_DIR})
find_package(CLI11 CONFIG REQUIRED)
find_package(toml11 CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
# Plots (src/plot): cairo draws them, with the DejaVu fonts (fonts-dejavu-core).
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)

# MPI is optional: AUTO builds the distributed back end (src/distributed) when it is found;
# without it spire runs as one process.
set(SPIRE_HAVE_MPI OFF)
if(NOT SPIRE_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS C)
  if(MPI_C_FOUND)
    set(SPIRE_HAVE_MPI ON)
  elseif(SPIRE_MPI STREQUAL "ON")
    message(FATAL_ERROR "SPIRE_MPI=ON but no MPI was found (scripts/setup installs libopenmpi-dev)")
  endif()
endif()

# CUDA is optional: AUTO builds it when nvcc is found.
set(SPIRE_HAVE_CUDA OFF)
if(NOT SPIRE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # sm_90 machine code for the H100/H200 and compute_90 PTX that newer GPUs compile at load.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    # CMake 3.25 knows no C++20 flag for nvcc 13 (which has one): name it.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    set(SPIRE_HAVE_CUDA ON)
  elseif(SPIRE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SPIRE_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
