/*
 * nats-dump - the tests' reader of a stream that pgflo-publish wrote (no
 * nats CLI on this machine; not installed).
 *
 * usage: nats-dump [-r | -l] STREAM [SUBJECT]
 *   (default)  the records again: each message's Pgflo-Begin header,
 *              its body (parts put together; a part 1 starts a record
 *              again) and its Pgflo-Commit header, one line each
 *   -r         one line per message: "SEQ SUBJECT POSITION [PART] [B] [C]"
 *   -l         the Pgflo-Position of the last message, or nothing
 *   -a         creates STREAM on SUBJECT with the settings pgflo-publish
 *              warns about: max age 1 day, discard old with max_bytes
 *   -p         publishes each line of stdin to SUBJECT of STREAM (which
 *              must exist), asynchronously, without headers: the
 *              transport's own speed, for scripts/bench-publish
 * The server is PGFLO_NATS_URL.  Exit 0, 1 on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

static const char *
hdr(natsMsg *m, const char *k)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(m, k, &v) != NATS_OK)
		return NULL;
	return v;
}

static void
die(const char *what, natsStatus s)
{
	fprintf(stderr, "nats-dump: %s: %s (%s)\n", what, natsStatus_GetText(s),
	    nats_GetLastError(NULL));
	exit(1);
}

/* Prints a record, or a part of one, in the default mode. */
static void
record(natsMsg *m, char **buf, size_t *len)
{
	const char *b = hdr(m, "Pgflo-Begin"), *c = hdr(m, "Pgflo-Commit");
	const char *part = hdr(m, "Pgflo-Part");
	int i = 1, n = 1;

	if (part != NULL && sscanf(part, "%d/%d", &i, &n) != 2) {
		fprintf(stderr, "nats-dump: bad Pgflo-Part %s\n", part);
		exit(1);
	}
	static char *begin;

	if (i == 1) {
		/* A record starts (again): what came before it is void. */
		*len = 0;
		free(begin);
		begin = b != NULL ? strdup(b) : NULL;
	}
	*buf = realloc(*buf, *len + (size_t)natsMsg_GetDataLength(m) + 1);
	if (*buf == NULL)
		exit(1);
	memcpy(*buf + *len, natsMsg_GetData(m),
	    (size_t)natsMsg_GetDataLength(m));
	*len += (size_t)natsMsg_GetDataLength(m);
	if (i < n)
		return;
	if (begin != NULL)
		printf("%s\n", begin);
	free(begin);
	begin = NULL;
	fwrite(*buf, 1, *len, stdout);
	putchar('\n');
	if (c != NULL)
		printf("%s\n", c);
	*len = 0;
}

int
main(int argc, char *argv[])
{
	const char *url = getenv("PGFLO_NATS_URL"), *stream, *subj;
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	jsStreamInfo *si = NULL;
	jsSubOptions so;
	jsOptions jo;
	jsCtx *js = NULL;
	jsErrCode jerr;
	natsStatus s;
	char *buf = NULL, all[512];
	size_t len = 0;
	uint64_t last, seq = 0;
	int mode = 0, a = 1;

	if (argc > 1 && (strcmp(argv[1], "-r") == 0 ||
	    strcmp(argv[1], "-l") == 0 || strcmp(argv[1], "-a") == 0 ||
	    strcmp(argv[1], "-p") == 0)) {
		mode = argv[1][1];
		a++;
	}
	if (argc - a < 1 || argc - a > 2) {
		fprintf(stderr, "usage: nats-dump [-r | -l | -a | -p] STREAM "
		    "[SUBJECT]\n");
		return 2;
	}
	stream = argv[a];
	snprintf(all, sizeof(all), "pgflo.%s.>", stream);
	subj = argc - a == 2 ? argv[a + 1] : all;
	if ((s = natsConnection_ConnectTo(&nc, url != NULL ? url :
	    NATS_DEFAULT_URL)) != NATS_OK)
		die("connect", s);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 4096;
	jo.PublishAsync.StallWait = 60000;
	if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
		die("jetstream", s);
	if (mode == 'p') {
		jsPubOptions po;
		size_t cap = 0;
		ssize_t n;

		while ((n = getline(&buf, &cap, stdin)) > 0)
			if ((s = js_PublishAsync(js, subj, buf, (int)n -
			    (buf[n - 1] == '\n'), NULL)) != NATS_OK)
				die("publish", s);
		jsPubOptions_Init(&po);
		po.MaxWait = 60000;
		if ((s = js_PublishAsyncComplete(js, &po)) != NATS_OK)
			die("publish complete", s);
		goto out;
	}
	if (mode == 'a') {
		jsStreamConfig c;

		jsStreamConfig_Init(&c);
		c.Name = stream;
		c.Subjects = &subj;
		c.SubjectsLen = 1;
		c.MaxAge = 86400LL * 1000000000LL;
		c.MaxBytes = 1 << 30;
		c.Discard = js_DiscardOld;
		if ((s = js_AddStream(NULL, js, &c, NULL, &jerr)) != NATS_OK)
			die("add stream", s);
		goto out;
	}
	if ((s = js_GetStreamInfo(&si, js, stream, NULL, &jerr)) != NATS_OK)
		die("stream info", s);
	last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	if (mode == 'l') {
		natsMsg *m = NULL;

		if (last > 0) {
			if ((s = js_GetMsg(&m, js, stream, last, NULL,
			    &jerr)) != NATS_OK)
				die("get", s);
			printf("%s\n", hdr(m, "Pgflo-Position"));
			natsMsg_Destroy(m);
		}
		goto out;
	}
	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.Ordered = true;
	if (last > 0 && (s = js_SubscribeSync(&sub, js, subj, NULL, &so,
	    &jerr)) != NATS_OK)
		die("subscribe", s);
	if (sub != NULL)
		natsSubscription_SetPendingLimits(sub, -1, -1);
	while (seq < last) {
		jsMsgMetaData *md = NULL;
		natsMsg *m = NULL;

		s = natsSubscription_NextMsg(&m, sub, 5000);
		if (s == NATS_TIMEOUT && strcmp(subj, all) != 0)
			break;	/* a filter: the last may not match */
		if (s != NATS_OK)
			die("next", s);
		if ((s = natsMsg_GetMetaData(&md, m)) != NATS_OK)
			die("metadata", s);
		seq = md->Sequence.Stream;
		jsMsgMetaData_Destroy(md);
		if (mode == 'r')
			printf("%llu %s %s%s%s%s%s\n", (unsigned long long)seq,
			    natsMsg_GetSubject(m), hdr(m, "Pgflo-Position"),
			    hdr(m, "Pgflo-Part") != NULL ? " " : "",
			    hdr(m, "Pgflo-Part") != NULL ?
			    hdr(m, "Pgflo-Part") : "",
			    hdr(m, "Pgflo-Begin") != NULL ? " B" : "",
			    hdr(m, "Pgflo-Commit") != NULL ? " C" : "");
		else
			record(m, &buf, &len);
		natsMsg_Destroy(m);
	}
	natsSubscription_Destroy(sub);
out:
	free(buf);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return fflush(stdout) == 0 ? 0 : 1;
}
