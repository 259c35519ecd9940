/*
 * natsstream.c - the pipeline's stream (natsstream.h).
 *
 * Settings that lose data without a word (../shared/NATS.md): MaxAge
 * deletes what a slow consumer has not read; Discard=Old with a limit
 * deletes the oldest messages when full; interest and work-queue
 * retention delete what was consumed; memory storage is lost with the
 * server.  A created stream has none of them: a full stream refuses
 * (Discard=New), which is back-pressure, not loss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "pgflo.h"
#include "lsn.h"
#include "natsconn.h"
#include "natsmsg.h"
#include "natsstream.h"

/* Whether the stream subject pattern pat takes every subject of ours. */
static int
covers(const char *pat, const char *ours)
{
	size_t a, b;

	for (;;) {
		a = strcspn(pat, ".");
		b = strcspn(ours, ".");
		if (a == 1 && *pat == '>')
			return 1;
		if (b == 1 && *ours == '>')
			return 0;	/* ours goes on where pat stops */
		if (!(a == 1 && *pat == '*') && (a != b ||
		    memcmp(pat, ours, a) != 0))
			return 0;
		if (pat[a] == '\0' || ours[b] == '\0')
			return pat[a] == ours[b];
		pat += a + 1;
		ours += b + 1;
	}
}

/* Settings of an existing stream that lose data: a warning each. */
static void
warn_risks(const char *stream, const jsStreamConfig *c)
{
	int limits = c->MaxMsgs > 0 || c->MaxBytes > 0 ||
	    c->MaxMsgsPerSubject > 0;

	if (c->MaxAge > 0)
		pgflo_warnx("warning: stream %s has max_age %lld s: it deletes "
		    "messages whether or not they were read", stream,
		    (long long)(c->MaxAge / 1000000000LL));
	if (limits && c->Discard == js_DiscardOld)
		pgflo_warnx("warning: stream %s has discard old with %s: when "
		    "full it deletes its oldest messages", stream,
		    c->MaxBytes > 0 ? "max_bytes" : c->MaxMsgs > 0 ?
		    "max_msgs" : "max_msgs_per_subject");
	if (c->Retention != js_LimitsPolicy)
		pgflo_warnx("warning: stream %s has %s retention: messages go "
		    "once consumed", stream, c->Retention ==
		    js_InterestPolicy ? "interest" : "work queue");
	if (c->Storage == js_MemoryStorage)
		pgflo_warnx("warning: stream %s has memory storage: a server "
		    "restart loses it", stream);
}

static int
add_stream(jsCtx *js, const struct pgflo_natsstream_config *cf,
    char *errbuf, size_t errlen)
{
	jsStreamConfig c;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	const char *subjects[1];

	subjects[0] = cf->subject;
	jsStreamConfig_Init(&c);
	c.Name = cf->name;
	c.Subjects = subjects;
	c.SubjectsLen = 1;
	c.Storage = js_FileStorage;
	c.Retention = js_LimitsPolicy;
	c.Discard = js_DiscardNew;
	c.AllowDirect = true;	/* readers get messages without the API */
	c.MaxAge = 0;
	c.MaxBytes = cf->max_bytes > 0 ? (int64_t)cf->max_bytes : -1;
	c.Duplicates = (int64_t)cf->dupwin_ms * 1000000LL;
	c.Replicas = cf->replicas > 0 ? cf->replicas : 1;
	s = js_AddStream(&si, js, &c, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s == NATS_OK) {
		pgflo_warnx("created stream %s (subjects %s)", cf->name,
		    cf->subject);
		return 0;
	}
	snprintf(errbuf, errlen, "could not create stream %s: %s", cf->name,
	    pgflo_natsconn_why(s));
	return jerr != 0 ? PGFLO_EXIT_USAGE : PGFLO_EXIT_UNAVAIL;
}

int
pgflo_natsstream_open(jsCtx *js, const char *server,
    const struct pgflo_natsstream_config *cf, size_t *max_msg,
    char *errbuf, size_t errlen)
{
	const char *stream = cf->name, *subj = cf->subject;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	int i, ok = 0;

	*max_msg = 0;
	s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
		if (cf->create)
			return add_stream(js, cf, errbuf, errlen);
		snprintf(errbuf, errlen, "no stream %s on NATS server %s "
		    "(--create creates it: file storage, subjects %s, no "
		    "max age, discard new)", stream, server, subj);
		return PGFLO_EXIT_USAGE;
	}
	if (s != NATS_OK) {
		snprintf(errbuf, errlen, "stream %s: %s", stream,
		    pgflo_natsconn_why(s));
		return PGFLO_EXIT_UNAVAIL;
	}
	for (i = 0; i < si->Config->SubjectsLen; i++)
		ok |= covers(si->Config->Subjects[i], subj);
	if (!ok)
		snprintf(errbuf, errlen, "stream %s does not take subjects %s "
		    "(see --subject-prefix)", stream, subj);
	else if (si->Config->NoAck)
		snprintf(errbuf, errlen, "stream %s has no_ack: nothing could "
		    "be known durable", stream);
	else
		warn_risks(stream, si->Config);
	if (si->Config->MaxMsgSize > 0)
		*max_msg = (size_t)si->Config->MaxMsgSize;
	ok = ok && !si->Config->NoAck;
	jsStreamInfo_Destroy(si);
	return ok ? 0 : PGFLO_EXIT_USAGE;
}

int
pgflo_natsstream_last(jsCtx *js, const char *stream, struct pgflo_pos *pos,
    char *errbuf, size_t errlen)
{
	jsStreamInfo *si = NULL;
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	const char *v = NULL;
	uint64_t last;

	memset(pos, 0, sizeof(*pos));
	if ((s = js_GetStreamInfo(&si, js, stream, NULL,
	    &jerr)) != NATS_OK)
		goto fail;
	last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	if (last > 0) {
		if ((s = js_GetMsg(&m, js, stream, last, NULL,
		    &jerr)) != NATS_OK)
			goto fail;
		if (natsMsgHeader_Get(m, PGFLO_HDR_POSITION, &v) != NATS_OK ||
		    (strcmp(v, "0/0:0") != 0 &&
		    pgflo_pos_parse(v, pos) == -1)) {
			snprintf(errbuf, errlen, "stream %s: its last message "
			    "(sequence %llu) has no valid %s header: "
			    "something else writes to it", stream,
			    (unsigned long long)last, PGFLO_HDR_POSITION);
			natsMsg_Destroy(m);
			return PGFLO_EXIT_USAGE;
		}
		natsMsg_Destroy(m);
	}
	pos->stream_seq = last;
	return 0;
fail:
	snprintf(errbuf, errlen, "stream %s: %s", stream,
	    pgflo_natsconn_why(s));
	return PGFLO_EXIT_UNAVAIL;
}


int
pgflo_natsstream_listed(jsCtx *js, const char *name, natsStatus *s)
{
	jsStreamNamesList *names = NULL;
	jsErrCode jerr = 0;
	int i, found = 0;

	if ((*s = js_StreamNames(&names, js, NULL, &jerr)) == NATS_NOT_FOUND)
		return 0;	/* no stream at all */
	if (*s != NATS_OK)
		return -1;
	for (i = 0; i < names->Count; i++)
		if (strcmp(names->List[i], name) == 0)
			found = 1;
	jsStreamNamesList_Destroy(names);
	return found;
}
