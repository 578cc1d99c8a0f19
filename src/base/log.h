/* Levelled logging to stderr with a module tag.
 *
 * Each .c file defines CV_LOG_MODULE before including this header. Never log
 * secrets or tokens. Thread-safe (one write(2) per line). */
#ifndef CV_BASE_LOG_H
#define CV_BASE_LOG_H

#include <stdarg.h>

typedef enum {
    CV_LOG_ERROR = 0,
    CV_LOG_WARN = 1,
    CV_LOG_INFO = 2,
    CV_LOG_DEBUG = 3,
} cv_log_level;

void cv_log_set_level(cv_log_level level);
cv_log_level cv_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int cv_log_parse_level(const char *s);

void cv_log_write(cv_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifndef CV_LOG_MODULE
#define CV_LOG_MODULE "camvault"
#endif

#define CV_LOG_(lvl, ...)                                   \
    do {                                                    \
        if ((lvl) <= cv_log_get_level())                    \
            cv_log_write((lvl), CV_LOG_MODULE, __VA_ARGS__); \
    } while (0)

#define CV_ERROR(...) CV_LOG_(CV_LOG_ERROR, __VA_ARGS__)
#define CV_WARN(...)  CV_LOG_(CV_LOG_WARN, __VA_ARGS__)
#define CV_INFO(...)  CV_LOG_(CV_LOG_INFO, __VA_ARGS__)
#define CV_DEBUG(...) CV_LOG_(CV_LOG_DEBUG, __VA_ARGS__)

#endif
