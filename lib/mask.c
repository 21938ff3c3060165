/* mask.c - phone number masking for logs and unrevealed screens. */
#include "mask.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void mask_phone(const char *phone, char *out, size_t outlen)
{
    char digits[20];
    size_t n = 0;

    if (!out || outlen == 0)
        return;
    if (!phone || phone[0] != '+')
        goto opaque;
    for (const char *p = phone + 1; *p; p++) {
        if (*p < '0' || *p > '9' || n >= 15)     /* E.164: at most 15 digits */
            goto opaque;
        digits[n++] = *p;
    }
    digits[n] = '\0';
    if (n == 13 && digits[0] == '8' && digits[1] == '6') {
        snprintf(out, outlen, "%.3s****%s", digits + 2, digits + n - 4);
        return;
    }
    if (n >= 11) {
        snprintf(out, outlen, "+%.3s****%s", digits, digits + n - 4);
        return;
    }
    if (n >= 8) {   /* short numbers: keep less, or little would be hidden */
        snprintf(out, outlen, "+%.2s****%s", digits, digits + n - 2);
        return;
    }
opaque:
    snprintf(out, outlen, "****");
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

void mask_digit_runs(char *s, size_t min_digits, const char *seps, const char *fill)
{
    if (!s)
        return;
    bool spaced = seps && *seps;
    size_t fill_len = fill ? strlen(fill) : 0;
    assert(!fill || fill_len <= min_digits);
    /* w trails r: a fill no longer than the number only ever shortens s. */
    size_t w = 0, r = 0;
    while (s[r]) {
        bool plus = spaced && s[r] == '+' && is_digit(s[r + 1]);
        if (!plus && !is_digit(s[r])) {
            s[w++] = s[r++];
            continue;
        }
        /* The number ends after its last digit: separators after it are
         * text again. */
        size_t end = r + plus, ndigits = 0;
        for (size_t j = end; s[j] && (is_digit(s[j]) || (spaced && strchr(seps, s[j]))); j++) {
            if (is_digit(s[j])) {
                ndigits++;
                end = j + 1;
            }
        }
        if (ndigits >= min_digits && fill && fill_len <= end - r) {
            memmove(s + w, fill, fill_len);
            w += fill_len;
        } else {
            bool mask = ndigits >= min_digits;
            for (size_t k = r; k < end; k++)
                s[w++] = mask && is_digit(s[k]) ? '*' : s[k];
        }
        r = end;
    }
    s[w] = '\0';
}
