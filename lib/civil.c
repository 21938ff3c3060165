/* civil.c - Gregorian calendar arithmetic and local time text (see civil.h).
 *
 * civil_days_from_date and civil_date_from_days are Howard Hinnant's
 * days_from_civil and civil_from_days ("chrono-Compatible Low-Level Date
 * Algorithms", howardhinnant.github.io/date_algorithms.html): years are
 * shifted to start on March 1st, so the leap day is the last day of its
 * year, and counted in 400-year eras of 146097 days, which makes them exact
 * for every year without tables or loops. */
#include "civil.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int64_t civil_days_from_date(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

void civil_date_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;      /* days since 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool leap_year(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The n digits at s as a number; -1 if any of them is not an ASCII digit
 * (sscanf would also take signs, spaces and shorter fields). */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int64_t civil_parse_local(const char *s, int utc_offset_min)
{
    if (!s || strlen(s) != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' ||
        s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60)
        return -1;
    if (d > mdays[mo - 1] + (mo == 2 && leap_year((unsigned)y)))
        return -1;
    int64_t secs = civil_days_from_date(y, (unsigned)mo, (unsigned)d) * 86400 +
                   (int64_t)h * 3600 + (int64_t)mi * 60 + se - (int64_t)utc_offset_min * 60;
    return secs * 1000;
}

int civil_format(int64_t ms, int utc_offset_min, char out[CIVIL_TIME_LEN])
{
    /* Round down, not toward zero, so instants before the epoch format right. */
    int64_t s = ms / 1000 - (ms % 1000 < 0) + (int64_t)utc_offset_min * 60;
    int64_t days = s / 86400, rem = s % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_date_from_days(days, &y, &m, &d);
    unsigned yy = (unsigned)((y % 10000 + 10000) % 10000);
    snprintf(out, CIVIL_TIME_LEN, "%04u-%02u-%02u %02u:%02u:%02u", yy, m % 100, d % 100,
             (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
    return y >= 0 && y <= 9999 ? 0 : ANX_ERANGE;
}
