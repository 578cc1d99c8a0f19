/* The consent page of /oauth/authorize and its script (/oauth/consent.js),
 * as static text. Internal to src/oauth/. */
#ifndef CV_OAUTH_PAGE_H
#define CV_OAUTH_PAGE_H

#include <stddef.h>

/* Marks where the partner's name goes in cv__oauth_page_html (the caller
 * substitutes it HTML-escaped). */
#define CV_OAUTH_PAGE_PARTNER "@PARTNER@"

/* The consent page (HTML, UTF-8): login form, consent section, Allow/Deny.
 * Loads /oauth/consent.js, its only script (the CSP allows script-src 'self'). */
extern const char cv__oauth_page_html[];
/* The page's script: fetches /oauth/consent, signs in through
 * /api/v1/login, posts the decision and follows the redirect. */
extern const char cv__oauth_consent_js[];
extern const size_t cv__oauth_consent_js_len;

#endif
