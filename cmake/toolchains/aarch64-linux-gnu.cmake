# arm64 (Raspberry Pi 3/4/5 64-bit, Jetson): cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(GPIOIRQ_CROSS_TRIPLET aarch64-linux-gnu)
set(GPIOIRQ_CROSS_DEB_ARCH arm64)
set(GPIOIRQ_CROSS_QEMU qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
