#include <catch2/catch.hpp>

#include <string>

#include <tailor/version.hpp>

TEST_CASE("the library version matches the CMake project version", "[version]") {
  CHECK(std::string(tailor::version) == TAILOR_PROJECT_VERSION);
  CHECK(std::string(tailor::version) ==
        std::to_string(TAILOR_VERSION_MAJOR) + "." + std::to_string(TAILOR_VERSION_MINOR) + "." +
            std::to_string(TAILOR_VERSION_PATCH));
}
