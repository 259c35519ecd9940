/*
 * map.h - a string map: byte-string keys (names, OIDs as 4 bytes, keys
 * of rows) to pointers.  Chained buckets, FNV-1a, grown at load 2.  A
 * zeroed struct is an empty map.
 */
#ifndef PGFLO_MAP_H
#define PGFLO_MAP_H

#include <stddef.h>

struct pgflo_ment;
struct pgflo_map {
	struct pgflo_ment **b;
	size_t	 nb, n;
};

void	*pgflo_map_get(const struct pgflo_map *, const void *, size_t);
/* Adds, or replaces the value of an existing key; returns the old value. */
void	*pgflo_map_put(struct pgflo_map *, const void *, size_t, void *);
/* Removes a key; returns its value, or NULL if it was not there. */
void	*pgflo_map_del(struct pgflo_map *, const void *, size_t);
/* Calls fn for each entry, in no order; fn may not change the map. */
void	 pgflo_map_each(const struct pgflo_map *,
	    void (*)(const void *, size_t, void *, void *), void *);
/* Empties the map, calling freeval (if not NULL) on each value. */
void	 pgflo_map_clear(struct pgflo_map *, void (*)(void *));

#endif
