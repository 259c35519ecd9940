/*
 * map.c - the string map of map.h.  One implementation for every table
 * keyed by name or OID (relations, types, statements, rows of a batch).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgflo.h"
#include "map.h"

struct pgflo_ment {
	struct pgflo_ment *next;
	void	*val;
	size_t	 kn;
	char	 key[];		/* kn bytes and a NUL */
};

static size_t
hash(const void *k, size_t n)
{
	const unsigned char *s = k;
	uint64_t h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ *s++) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 32));
}

static struct pgflo_ment **
slot(const struct pgflo_map *m, const void *k, size_t kn)
{
	struct pgflo_ment **e;

	for (e = &m->b[hash(k, kn) % m->nb]; *e != NULL; e = &(*e)->next)
		if ((*e)->kn == kn && memcmp((*e)->key, k, kn) == 0)
			break;
	return e;
}

void *
pgflo_map_get(const struct pgflo_map *m, const void *k, size_t kn)
{
	struct pgflo_ment **e;

	if (m->nb == 0)
		return NULL;
	e = slot(m, k, kn);
	return *e != NULL ? (*e)->val : NULL;
}

static void
grow(struct pgflo_map *m)
{
	struct pgflo_ment **nb, *e, *next;
	size_t nnb = m->nb == 0 ? 64 : m->nb * 4, i, j;

	nb = pgflo_xmalloc(nnb * sizeof(*nb));
	for (j = 0; j < nnb; j++)
		nb[j] = NULL;
	for (j = 0; j < m->nb; j++)
		for (e = m->b[j]; e != NULL; e = next) {
			next = e->next;
			i = hash(e->key, e->kn) % nnb;
			e->next = nb[i];
			nb[i] = e;
		}
	free(m->b);
	m->b = nb;
	m->nb = nnb;
}

void *
pgflo_map_put(struct pgflo_map *m, const void *k, size_t kn, void *v)
{
	struct pgflo_ment **p, *e;
	void *old;

	if (m->nb == 0 || m->n >= 2 * m->nb)
		grow(m);
	p = slot(m, k, kn);
	if (*p != NULL) {
		old = (*p)->val;
		(*p)->val = v;
		return old;
	}
	e = pgflo_xmalloc(sizeof(*e) + kn + 1);
	memcpy(e->key, k, kn);
	e->key[kn] = '\0';
	e->kn = kn;
	e->val = v;
	e->next = NULL;
	*p = e;
	m->n++;
	return NULL;
}

void *
pgflo_map_del(struct pgflo_map *m, const void *k, size_t kn)
{
	struct pgflo_ment **p, *e;
	void *v;

	if (m->nb == 0 || *(p = slot(m, k, kn)) == NULL)
		return NULL;
	e = *p;
	*p = e->next;
	v = e->val;
	free(e);
	m->n--;
	return v;
}

void
pgflo_map_each(const struct pgflo_map *m,
    void (*fn)(const void *, size_t, void *, void *), void *arg)
{
	struct pgflo_ment *e;
	size_t i;

	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = e->next)
			fn(e->key, e->kn, e->val, arg);
}

void
pgflo_map_clear(struct pgflo_map *m, void (*freeval)(void *))
{
	struct pgflo_ment *e, *next;
	size_t i;

	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			if (freeval != NULL)
				freeval(e->val);
			free(e);
		}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}
