/* proxy: forwards an authenticated, authorized request for /user/NAME/... to
 * that user's Jupyter server over its unix socket: HTTP streamed both ways
 * (never a whole body buffered), WebSocket spliced after a 101, upstream
 * keep-alive pool per server, hop-by-hop headers removed per RFC 9110 §7.6.1,
 * nbwarden's own cookies stripped, the server's token injected as
 * "Authorization: token T", Sec-WebSocket-Extensions dropped so client frames
 * stay uncompressed for the execute tap. Used only by the http module. */
#pragma once

#include <stdbool.h>

#include "common/common.h"

struct proxy_target {
	char user[NBW_USERNAME_MAX + 1];   /* the server's owner */
	char socket_path[4096];            /* host path of the server's unix socket */
	char token[64];                    /* the server's token: injected, never logged */
	char actor[NBW_USERNAME_MAX + 1];  /* who is making the request (audit) */
};

/* Cookie names the proxy never forwards upstream. */
bool proxy_cookie_is_ours(const char *name, size_t len);
