include(CMakePackageConfigHelpers)
install(DIRECTORY include/tailor DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS tailor EXPORT tailorTargets)
install(EXPORT tailorTargets NAMESPACE tailor:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tailor)
configure_package_config_file(cmake/tailorConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tailorConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tailor)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tailorConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tailorConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tailorConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tailor)
