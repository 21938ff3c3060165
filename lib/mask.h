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

/* Masks, in place, every number in s that could be a phone number in whole
 * or in part: providers quote the number they refused in their error texts,
 * and those texts reach logs and the timeline.
 *   - A number is a run of ASCII digits. With seps (e.g. " -()."), also
 *     digits with those characters between them, and a '+' before them, as
 *     people write numbers ("+86 138 0000 0001"); NULL or "": bare runs only.
 *   - It is masked when it has min_digits digits or more; shorter ones (an
 *     error code, a count) stay.
 *   - fill NULL: each digit of it becomes '*' and the rest stays, so the
 *     text keeps its length and shape. Else the whole number becomes fill,
 *     which must be no longer than min_digits (s never grows), and the
 *     length of the number does not show.
 * NULL s is ignored. */
void mask_digit_runs(char *s, size_t min_digits, const char *seps, const char *fill);

#endif
