/* err.h - error codes shared by libanxin and the daemon.
 *
 * Every function that can fail returns 0 on success or one of these negative
 * codes (the libuv convention), so callers can pass errors up unchanged and
 * print them with anx_strerror(). */
#ifndef ANXIN_ERR_H
#define ANXIN_ERR_H

enum anx_err {
    ANX_OK = 0,
    ANX_ENOMEM = -1,    /* allocation failed */
    ANX_EINVAL = -2,    /* argument or input is invalid */
    ANX_ENOENT = -3,    /* no such item */
    ANX_EEXIST = -4,    /* item already exists */
    ANX_ERANGE = -5,    /* value or size out of range */
    ANX_EIO = -6,       /* input/output error (daemon side) */
    ANX_EPARSE = -7,    /* syntax error in a file or document */
    ANX_ESTATE = -8,    /* operation not allowed in the current state */
    ANX_EAGAIN = -9,    /* try again later (resource busy or limited) */
    ANX_ECORRUPT = -10, /* stored data failed an integrity check */
};

/* Returns a static English description of err; never NULL. */
const char *anx_strerror(int err);

#endif
