# Shared part of the cross toolchain files (aarch64-linux-gnu.cmake, arm-linux-gnueabihf.cmake).
# Before including this, the file sets GPIOIRQ_CROSS_TRIPLET, GPIOIRQ_CROSS_DEB_ARCH,
# GPIOIRQ_CROSS_QEMU and CMAKE_SYSTEM_PROCESSOR.
#
# Libraries come from Debian multiarch (`dpkg --add-architecture`, then the -dev packages
# with :arm64 / :armhf; scripts/install-deps.sh --cross installs them). Catch2 3 is the
# exception with libspdlog-dev: libcatch2-dev is not Multi-Arch: same, and libspdlog-dev:<arch>
# depends on bookworm's catch2:<arch>, which would replace the build machine's Catch2 3. So
# install-deps.sh unpacks those two (with libspdlog's runtime) under
# ${GPIOIRQ_CROSS_CACHE:-/var/cache/gpioirq-cross}/<arch>, searched first.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${GPIOIRQ_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${GPIOIRQ_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${GPIOIRQ_CROSS_TRIPLET})

# pkg-config: only the foreign architecture's .pc files (and the architecture-independent).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${GPIOIRQ_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Programs from the build machine; libraries and headers from the multiarch paths (the
# root is /, so the default search finds /usr/lib/<triplet> through CMAKE_LIBRARY_ARCHITECTURE).
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

if(DEFINED ENV{GPIOIRQ_CROSS_CACHE})
  set(_gpioirq_cross_cache "$ENV{GPIOIRQ_CROSS_CACHE}")
else()
  set(_gpioirq_cross_cache /var/cache/gpioirq-cross)
endif()
set(_gpioirq_unpacked "${_gpioirq_cross_cache}/${GPIOIRQ_CROSS_DEB_ARCH}/usr")
if(EXISTS "${_gpioirq_unpacked}")
  list(PREPEND CMAKE_PREFIX_PATH "${_gpioirq_unpacked}")
endif()

# Tests run under qemu-user: ctest and Catch2's test discovery prefix every test binary with
# this. Programs a test starts itself (gpioirqd from a host test) run through binfmt_misc,
# which install-deps.sh --cross registers.
find_program(GPIOIRQ_CROSS_EMULATOR ${GPIOIRQ_CROSS_QEMU})
if(GPIOIRQ_CROSS_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${GPIOIRQ_CROSS_EMULATOR})
endif()
