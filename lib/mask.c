/* mask.c - phone number masking for logs and unrevealed screens. */
#include "mask.h"

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
