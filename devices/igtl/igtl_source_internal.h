/* igtl_source_internal.h - shared between the files of devices/igtl only. */
#ifndef CN_IGTL_SOURCE_INTERNAL_H
#define CN_IGTL_SOURCE_INTERNAL_H

#include <netinet/in.h>

/* host (dotted quad or name) -> IPv4 address: CN_OK, CN_ENOENT, CN_EINVAL. */
int cn_igtl_resolve_ipv4(const char *host, struct in_addr *out);

#endif
