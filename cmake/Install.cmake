# What `cmake --install` puts on a system besides the two binaries (daemon/CMakeLists.txt):
# the systemd unit, the service's user and groups (sysusers.d), the udev rules for the GPIO
# and I2C devices, the configuration, the logrotate snippet, the docs. debian/ packages
# exactly this install.
# Relative paths are under the prefix given at install time (`cmake --install --prefix`).
include(GNUInstallDirs)

set(GPIOIRQ_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE PATH
    "Where the systemd unit goes (Debian 12 packages: /lib/systemd/system)")
set(GPIOIRQ_UDEV_RULES_DIR "lib/udev/rules.d" CACHE PATH
    "Where the udev rules go (Debian 12 packages: /lib/udev/rules.d)")
set(GPIOIRQ_SYSUSERS_DIR "lib/sysusers.d" CACHE PATH
    "Where the sysusers.d file goes")
# The package's name, not the project's: /usr/share/doc/<package> is Debian's rule.
set(GPIOIRQ_DOC_DIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/gpioirqd" CACHE PATH
    "Where README, the docs and the example configuration go")

install(FILES ${PROJECT_SOURCE_DIR}/systemd/gpioirqd.service DESTINATION ${GPIOIRQ_SYSTEMD_UNIT_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/systemd/gpioirqd.sysusers DESTINATION ${GPIOIRQ_SYSUSERS_DIR}
        RENAME gpioirqd.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/60-gpioirqd.rules DESTINATION ${GPIOIRQ_UDEV_RULES_DIR})
# Named after the command: bash-completion loads completions/<command> on its first <TAB>.
install(FILES ${PROJECT_SOURCE_DIR}/scripts/completion/gpioirqctl.bash
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions RENAME gpioirqctl)
install(FILES ${PROJECT_SOURCE_DIR}/config/example.toml DESTINATION ${GPIOIRQ_DOC_DIR}/examples
        RENAME gpioirqd.toml)
install(FILES ${PROJECT_SOURCE_DIR}/config/demo.toml DESTINATION ${GPIOIRQ_DOC_DIR}/examples)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${GPIOIRQ_DOC_DIR})
foreach(doc INSTALL CONFIGURATION PROTOCOL FILE-FORMATS RELIABILITY)
  if(EXISTS ${PROJECT_SOURCE_DIR}/docs/${doc}.md)
    install(FILES ${PROJECT_SOURCE_DIR}/docs/${doc}.md DESTINATION ${GPIOIRQ_DOC_DIR})
  endif()
endforeach()

# The configuration and the logrotate snippet are the administrator's once installed: a
# second `cmake --install` keeps theirs (in a package they are conffiles, dpkg's to handle).
# Their directory is decided at install time, as GNUInstallDirs does: /etc for the prefix
# /usr, PREFIX/etc otherwise, or CMAKE_INSTALL_SYSCONFDIR when that is absolute.
foreach(pair "config/gpioirqd.toml|gpioirqd.toml" "config/gpioirqd.logrotate|logrotate.d/gpioirqd")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  get_filename_component(to_subdir "${to}" DIRECTORY)
  get_filename_component(to_name "${to}" NAME)
  install(CODE "
    if(IS_ABSOLUTE \"${CMAKE_INSTALL_SYSCONFDIR}\")
      set(etc \"${CMAKE_INSTALL_SYSCONFDIR}\")
    elseif(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(etc /etc)
    else()
      set(etc \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}\")
    endif()
    set(target \"\${etc}/${to}\")
    if(EXISTS \"\$ENV{DESTDIR}\${target}\")
      message(STATUS \"Kept: \$ENV{DESTDIR}\${target} (yours; the shipped one is ${PROJECT_SOURCE_DIR}/${from})\")
    else()
      # file(INSTALL) puts DESTDIR in front by itself.
      file(INSTALL DESTINATION \"\${etc}/${to_subdir}\" TYPE FILE
           FILES \"${PROJECT_SOURCE_DIR}/${from}\" RENAME \"${to_name}\")
    endif()")
endforeach()
