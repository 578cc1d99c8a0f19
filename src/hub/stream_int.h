/* Internal to the hub and its tests. */
#ifndef CV_HUB_STREAM_INT_H
#define CV_HUB_STREAM_INT_H

#include "hub/stream.h"

/* Fault injection for tests only: offers f to every started viewer WITHOUT
 * the provenance check at the door, as a caching bug upstream of the hub
 * would. It exists so tests can prove that the last write before the socket
 * still refuses a frame of another camera. Nothing in the product calls it. */
int cv__stream_offer_unchecked(cv_stream *s, cv_frame *f);

#endif
