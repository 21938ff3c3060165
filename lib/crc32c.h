/* crc32c.h - CRC-32C (Castagnoli), the checksum of the journal's records and
 * checkpoint file.
 *
 * Pure: no state, no I/O, safe from any thread. */
#ifndef ANXIN_CRC32C_H
#define ANXIN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC over len more bytes. Start with crc = 0; the result of one
 * call is the crc argument of the next, so crc32c_update(crc32c_update(0, a),
 * b) equals the CRC of a followed by b. data may be NULL when len is 0. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

/* The CRC-32C of len bytes at data. */
uint32_t crc32c(const void *data, size_t len);

#endif
