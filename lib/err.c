/* err.c - descriptions of libanxin error codes. */
#include "err.h"

const char *anx_strerror(int err)
{
    switch (err) {
    case ANX_OK: return "success";
    case ANX_ENOMEM: return "out of memory";
    case ANX_EINVAL: return "invalid argument";
    case ANX_ENOENT: return "not found";
    case ANX_EEXIST: return "already exists";
    case ANX_ERANGE: return "out of range";
    case ANX_EIO: return "input/output error";
    case ANX_EPARSE: return "syntax error";
    case ANX_ESTATE: return "not allowed in the current state";
    case ANX_EAGAIN: return "temporarily unavailable";
    case ANX_ECORRUPT: return "data corrupt";
    }
    return "unknown error";
}
