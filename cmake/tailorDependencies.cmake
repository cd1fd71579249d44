# Every dependency of the library comes from a Debian package with a CMake package config.
# The list of targets is reused by tailorConfig.cmake, so users get the same ones.
include(GNUInstallDirs)
find_package(xtensor REQUIRED)
find_package(xtensor-blas REQUIRED)
find_package(BLAS REQUIRED)        # OpenBLAS through Debian's libblas alternative
find_package(simdjson REQUIRED)
find_package(libjpeg-turbo REQUIRED)
find_package(PNG REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)

set(TAILOR_DEPENDENCY_TARGETS
  xtensor xtensor-blas BLAS::BLAS simdjson::simdjson libjpeg-turbo::turbojpeg PNG::PNG
  fmt::fmt nlohmann_json::nlohmann_json Threads::Threads)
