#pragma once
// The library version; CMakeLists.txt's project(VERSION) must say the same (a test checks it).
#define TAILOR_VERSION_MAJOR 0
#define TAILOR_VERSION_MINOR 1
#define TAILOR_VERSION_PATCH 0
namespace tailor {
inline constexpr const char* version = "0.1.0";
}
