/* mask.h - masking personal data before it reaches a log line or a screen
 * that has not asked to reveal it (PIPL: phone numbers are personal data). */
#ifndef ANXIN_MASK_H
#define ANXIN_MASK_H

#include <stddef.h>

#define MASK_PHONE_MAX 24   /* buffer size that always suffices for mask_phone */

/* Writes a masked form of an E.164 number into out (NUL-terminated):
 * Chinese numbers (+86) lose the country code and keep the first three and
 * last four digits ("+8613800000001" -> "138****0001"); other numbers of 11
 * to 15 digits keep the first three and last four ("+14155552671" ->
 * "+141****2671"), of 8 to 10 digits the first two and last two. Shorter,
 * longer or malformed input becomes "****" so nothing leaks by accident. */
void mask_phone(const char *phone, char *out, size_t outlen);

#endif
