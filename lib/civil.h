/* civil.h - calendar arithmetic on the proleptic Gregorian calendar: days
 * since 1970-01-01 to and from year-month-day, and "YYYY-MM-DD HH:MM:SS"
 * local times (what providers write in their reports, what texts and logs
 * show) to and from ms since the epoch.
 *
 * Pure: no time zone database, no clock, nothing allocated. A local time is
 * UTC plus a fixed offset in minutes (China Standard Time: +480), which is
 * all a county in China needs; there is no daylight saving time. */
#ifndef ANXIN_CIVIL_H
#define ANXIN_CIVIL_H

#include <stdint.h>

#define CIVIL_TIME_LEN 20   /* "YYYY-MM-DD HH:MM:SS" and its NUL */

/* Days from 1970-01-01 to y-m-d (negative before it). m is 1-12, d 1-31;
 * a day past the end of its month counts on into the next one. */
int64_t civil_days_from_date(int64_t y, unsigned m, unsigned d);

/* The date `days` days after 1970-01-01 (before it, if negative). */
void civil_date_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* "YYYY-MM-DD HH:MM:SS", exactly that (ASCII digits, 19 characters, a real
 * calendar date, hours 00-23, a leap second :60 taken as the next minute's
 * first), read as local time at utc_offset_min, as ms since the epoch
 * (negative before it). Returns -1 for NULL or anything else; a valid time
 * is a whole second, so a result of -1 is never a time. */
int64_t civil_parse_local(const char *s, int utc_offset_min);

/* ms since the epoch as local time at utc_offset_min, written
 * "YYYY-MM-DD HH:MM:SS" into out (milliseconds dropped, rounding down so
 * that instants before the epoch come out right). Returns 0, or ANX_ERANGE
 * when the year is outside 0-9999; out then holds the year modulo 10000, so
 * that it is always 19 characters. */
int civil_format(int64_t ms, int utc_offset_min, char out[CIVIL_TIME_LEN]);

#endif
