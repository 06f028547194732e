#!/bin/sh
# i2c-stub serves a register file at 0x68 (an MPU-6050's address): registers written with
# SMBus byte writes come back from one SMBus I2C-block read, the transfer the IMU driver uses.
. /scenarios/lib.sh
need_bin i2c_regs
i2c_stub_load 0x68
bus=$I2C_BUS
check "/dev/i2c-$bus exists" [ -c "/dev/i2c-$bus" ]
# ACCEL_XOUT_H (0x3B) .. GYRO_ZOUT_L (0x48): 14 known bytes.
i2c_regs "$bus" 0x68 write 0x3b 0x12 0x34 0x56 0x78 0x9a 0xbc 0x0d 0xe0 0x01 0x02 0x03 0x04 0x05 0x06 ||
  fail "register writes"
got=$(i2c_regs "$bus" 0x68 read 0x3b 14) || fail "block read"
check "block read returns the written bytes ($got)" [ "$got" = "12 34 56 78 9a bc 0d e0 01 02 03 04 05 06" ]
check "busybox i2cget agrees" [ "$(i2cget -y "$bus" 0x68 0x3c b)" = 0x34 ]
pass "i2c-stub on bus $bus: 14 registers written, read back by I2C-block read"
