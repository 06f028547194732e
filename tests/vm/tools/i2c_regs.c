/*
 * i2c_regs: sets and reads registers of an i2c-stub chip from inside the test VM, with the
 * same SMBus transfers the daemon's IMU driver uses (byte-data writes, I2C-block reads).
 *
 *   i2c_regs BUS ADDR write REG BYTE...   SMBus write-byte-data of each BYTE to REG, REG+1, ...
 *   i2c_regs BUS ADDR read REG LEN        one SMBus I2C-block read of LEN (<= 32) bytes;
 *                                         prints them as hex, space separated, on one line
 *
 * BUS is the N of /dev/i2c-N; numbers accept 0x prefixes. Exit 0 ok, 1 I/O error, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int smbus(int fd, char rw, unsigned char cmd, int size, union i2c_smbus_data *data)
{
	struct i2c_smbus_ioctl_data args = { .read_write = rw, .command = cmd, .size = size, .data = data };
	return ioctl(fd, I2C_SMBUS, &args);
}

static long num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 0);
	if (*s == '\0' || *end != '\0') {
		fprintf(stderr, "i2c_regs: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: i2c_regs BUS ADDR write REG BYTE... | i2c_regs BUS ADDR read REG LEN\n");
		return 2;
	}
	char dev[32];
	snprintf(dev, sizeof(dev), "/dev/i2c-%ld", num(argv[1]));
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "i2c_regs: open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (ioctl(fd, I2C_SLAVE, num(argv[2])) < 0) {
		fprintf(stderr, "i2c_regs: I2C_SLAVE %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	long reg = num(argv[4]);
	union i2c_smbus_data data;
	if (strcmp(argv[3], "write") == 0) {
		for (int i = 5; i < argc; ++i) {
			data.byte = (unsigned char)num(argv[i]);
			if (smbus(fd, I2C_SMBUS_WRITE, (unsigned char)(reg + i - 5), I2C_SMBUS_BYTE_DATA, &data) < 0) {
				fprintf(stderr, "i2c_regs: write reg 0x%lx: %s\n", reg + i - 5, strerror(errno));
				return 1;
			}
		}
		return 0;
	}
	if (strcmp(argv[3], "read") == 0 && argc == 6) {
		long len = num(argv[5]);
		if (len < 1 || len > I2C_SMBUS_BLOCK_MAX)
			return 2;
		data.block[0] = (unsigned char)len;
		if (smbus(fd, I2C_SMBUS_READ, (unsigned char)reg, I2C_SMBUS_I2C_BLOCK_DATA, &data) < 0) {
			fprintf(stderr, "i2c_regs: block read reg 0x%lx: %s\n", reg, strerror(errno));
			return 1;
		}
		for (int i = 1; i <= data.block[0]; ++i)
			printf("%s%02x", i > 1 ? " " : "", data.block[i]);
		printf("\n");
		return 0;
	}
	fprintf(stderr, "i2c_regs: unknown command %s\n", argv[3]);
	return 2;
}
