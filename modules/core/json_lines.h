/* json_lines.h - private to modules/core: the line a JSON key is written on
 * (json_lines.c). Paths as core.h's configuration reads name them. */
#ifndef CN_CORE_JSON_LINES_H
#define CN_CORE_JSON_LINES_H

/* The line (1-based) of path's key, or where an array element's value starts; 0 when
 * the text does not hold it. One scan of the text. */
int cn__json_line_of(const char *text, const char *path);

/* Every path's line, from one scan (for many look-ups). NULL when out of memory. */
typedef struct cn__json_lines cn__json_lines;
cn__json_lines *cn__json_lines_new(const char *text);
int cn__json_lines_find(const cn__json_lines *x, const char *path);
void cn__json_lines_free(cn__json_lines *x);

#endif
