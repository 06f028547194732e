# armhf (Raspberry Pi OS 32-bit, Pi Zero 2, BeagleBone): 32-bit long and, on Debian 12, 32-bit
# time_t. cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/arm-linux-gnueabihf.cmake
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(GPIOIRQ_CROSS_TRIPLET arm-linux-gnueabihf)
set(GPIOIRQ_CROSS_DEB_ARCH armhf)
set(GPIOIRQ_CROSS_QEMU qemu-arm-static)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
# GCC's notes that the armhf ABI of some std:: argument types changed in GCC 7.1 (nothing
# built here mixes code from before it): not shown.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
