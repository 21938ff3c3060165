/* tmpl.h - message templates: "{elder.name} pressed SOS at {time}".
 *
 * A field is {name} with name of [a-z0-9_.]; "{{" and "}}" give literal
 * braces. The caller supplies the values, so the same renderer serves SMS,
 * voice text and any later channel. */
#ifndef ANXIN_TMPL_H
#define ANXIN_TMPL_H

#include <stddef.h>

struct tmpl_field {
    const char *name;           /* "elder.name" */
    const char *value;          /* NULL renders as "" */
};

/* Renders tmpl into out (always NUL-terminated, truncated on a UTF-8
 * character boundary if out is too small). Unknown fields are kept as
 * written, so a mistake is visible in the message rather than silently
 * empty. Returns the number of unknown fields (0 = all known), or
 * ANX_ERANGE if the result was truncated. */
int tmpl_render(const char *tmpl, const struct tmpl_field *fields, size_t n_fields,
                char *out, size_t outlen);

/* The fields of tmpl in order, as tmpl_render sees them ("{{" and "}}"
 * are braces, a lone brace is text): from *pos, finds the next {name};
 * returns 1 with *name and *len set and *pos past it, or 0 at the end.
 * Start with *pos = 0. */
int tmpl_next_field(const char *tmpl, size_t *pos, const char **name, size_t *len);

#endif
