/* utf8.h - the little UTF-8 the modules need: counting characters (for
 * providers' and the registry's length limits) and checking sequences (for
 * templates). Not a general Unicode library. */
#ifndef ANXIN_UTF8_H
#define ANXIN_UTF8_H

#include <stddef.h>

/* Code points in the NUL-terminated s; a stray continuation byte does not
 * count, a stray lead byte counts as one. */
size_t utf8_chars(const char *s);

/* The length of the well-formed UTF-8 sequence at p (1 to 4; overlong
 * two-byte forms and lead bytes above U+10FFFF refused), or 0 when p does
 * not start one. p must hold a NUL-terminated string. */
size_t utf8_seq_len(const char *p);

#endif
