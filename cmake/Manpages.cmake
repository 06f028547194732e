# Man pages gpioirqd(8), gpioirqctl(1) and gpioirqd.toml(5), made by pandoc from markdown
# at build time (part of `all`) into ${PROJECT_BINARY_DIR}/man and installed to
# ${CMAKE_INSTALL_MANDIR}/man{8,1,5}. gpioirqd.toml(5) is docs/man/gpioirqd.toml.5.md (its
# title block, NAME and DESCRIPTION) followed by docs/CONFIGURATION.md itself, so that the
# configuration reference stays one text.
include(GNUInstallDirs)

find_program(GPIOIRQ_PANDOC pandoc)
if(GPIOIRQ_PANDOC)
  option(GPIOIRQ_MANPAGES "Build and install the man pages (needs pandoc)" ON)
else()
  option(GPIOIRQ_MANPAGES "Build and install the man pages (needs pandoc)" OFF)
endif()
if(NOT GPIOIRQ_MANPAGES)
  message(STATUS "man pages: not built (GPIOIRQ_MANPAGES is OFF; they need pandoc)")
  return()
endif()
if(NOT GPIOIRQ_PANDOC)
  message(FATAL_ERROR "GPIOIRQ_MANPAGES is ON but pandoc was not found: install pandoc "
                      "(apt-get install pandoc) or pass -DGPIOIRQ_MANPAGES=OFF")
endif()

# The page's date: SOURCE_DATE_EPOCH when set (reproducible builds; dpkg-buildpackage sets
# it from debian/changelog), else none: only the version is in the footer, never the clock
# of the build.
set(_man_meta -M "footer=gpioirq ${PROJECT_VERSION}")
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  string(TIMESTAMP _man_date "%Y-%m-%d" UTC)  # TIMESTAMP reads SOURCE_DATE_EPOCH itself
  list(APPEND _man_meta -M "date=${_man_date}")
endif()

set(_man_src ${PROJECT_SOURCE_DIR}/docs/man)
set(_man_out ${PROJECT_BINARY_DIR}/man)
set(_man_filter ${_man_src}/man-tables.lua)
file(MAKE_DIRECTORY ${_man_out})

# gpioirq_add_manpage(PAGE SECTION SOURCES...): ${_man_out}/PAGE.SECTION from the sources,
# concatenated in order.
function(gpioirq_add_manpage page section)
  set(out ${_man_out}/${page}.${section})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${GPIOIRQ_PANDOC} --standalone --from markdown --to man --lua-filter ${_man_filter}
            ${_man_meta} --output ${out} ${ARGN}
    DEPENDS ${ARGN} ${_man_filter}
    COMMENT "Generating man page ${page}(${section})"
    VERBATIM)
  set(GPIOIRQ_MANPAGE_FILES ${GPIOIRQ_MANPAGE_FILES} ${out} PARENT_SCOPE)
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endfunction()

gpioirq_add_manpage(gpioirqd 8 ${_man_src}/gpioirqd.8.md)
gpioirq_add_manpage(gpioirqctl 1 ${_man_src}/gpioirqctl.1.md)
gpioirq_add_manpage(gpioirqd.toml 5 ${_man_src}/gpioirqd.toml.5.md ${PROJECT_SOURCE_DIR}/docs/CONFIGURATION.md)
add_custom_target(manpages ALL DEPENDS ${GPIOIRQ_MANPAGE_FILES})
