/* log.c - line-oriented logging to stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

void log_init(struct logger *l)
{
    l->level = LOG_INFO;
    l->out = stderr;
    /* systemd sets JOURNAL_STREAM when stderr is connected to the journal;
     * it then adds its own timestamps and understands "<N>" priorities. */
    l->journal = getenv("JOURNAL_STREAM") != NULL;
}

int log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_write(struct logger *l, enum log_level lvl, const char *fmt, ...)
{
    static const char *const tags[] = {"debug", "info", "warn", "error"};
    static const int prio[] = {7, 6, 4, 3};
    char line[1024];
    size_t n = 0;
    va_list ap;

    if (lvl < l->level)
        return;
    if (l->journal) {
        n = (size_t)snprintf(line, sizeof line, "<%d>", prio[lvl]);
    } else {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ %-5s ",
                              (int)(tv.tv_usec / 1000), tags[lvl]);
    }
    va_start(ap, fmt);
    int w = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    n += (size_t)w;
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* One fwrite per line keeps lines whole when stderr is shared. */
    fwrite(line, 1, n, l->out);
    fflush(l->out);
}

bool log_limit_take(struct log_limit *lim, int64_t now_ms, int64_t window_ms, uint32_t burst,
                    uint32_t *suppressed_out)
{
    if (now_ms - lim->window_start_ms >= window_ms) {
        lim->window_start_ms = now_ms;
        lim->used = 0;
    }
    if (lim->used >= burst) {
        lim->suppressed++;
        return false;
    }
    lim->used++;
    if (suppressed_out)
        *suppressed_out = lim->suppressed;
    lim->suppressed = 0;
    return true;
}
