/* A small reorder buffer for RTP over UDP: packets that arrive out of order
 * are held (copied) until the gap before them fills, for at most max_delay_us
 * or until the window is full, then released in sequence order. Packets that
 * arrive in order pass straight through without a copy.
 *
 * TCP-interleaved sources need none of this; the depacketizer behind it still
 * counts what is finally lost. Not thread-safe; one per UDP track. */
#ifndef CV_RTP_REORDER_H
#define CV_RTP_REORDER_H

#include <stddef.h>
#include <stdint.h>

#define CV_REORDER_WINDOW 64          /* packets held at most */
#define CV_REORDER_DEFAULT_DELAY_US 40000

typedef struct cv_rtp_reorder cv_rtp_reorder;

/* Receives each released packet (borrowed for the duration of the call). */
typedef void (*cv_rtp_pkt_fn)(void *ctx, const uint8_t *pkt, size_t len);

typedef struct {
    uint64_t reordered;  /* packets that were held and released in order */
    uint64_t skipped;    /* sequence numbers given up on (never arrived in time) */
    uint64_t duplicates; /* copies of a held packet, dropped */
} cv_rtp_reorder_stats;

/* Returns NULL on OOM. max_delay_us <= 0 selects the default. */
cv_rtp_reorder *cv_rtp_reorder_new(int64_t max_delay_us);
void cv_rtp_reorder_free(cv_rtp_reorder *r);

/* Feeds one datagram received at now_us and releases every packet that is
 * ready, in order. Datagrams too short to be RTP pass through at once (the
 * depacketizer rejects them with a reason). */
void cv_rtp_reorder_push(cv_rtp_reorder *r, const uint8_t *pkt, size_t len, int64_t now_us, cv_rtp_pkt_fn fn,
                         void *ctx);

/* Releases held packets whose wait has expired, as if their gaps were lost
 * (call it from a timer when the source may go quiet). */
void cv_rtp_reorder_flush_due(cv_rtp_reorder *r, int64_t now_us, cv_rtp_pkt_fn fn, void *ctx);

void cv_rtp_reorder_get_stats(const cv_rtp_reorder *r, cv_rtp_reorder_stats *out);

#endif
