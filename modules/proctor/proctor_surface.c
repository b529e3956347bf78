/*
 * proctor_surface.c - the predicted ablation zone as closed surfaces for proctors.
 *
 * The idea: the thermal model's isotherm meshes change about once a second and
 * every transport sends them to every client once per change. The hub keeps one
 * copy per temperature and a version number that grows with each change; a
 * transport compares the version with what each client was sent and packs the
 * meshes inside cn_proctor_surfaces_visit (under the hub's lock, so it sees a
 * consistent set). Naming them on the wire is the transport's business.
 */
#include "proctor_priv.h"

#include <stdlib.h>
#include <string.h>

int cn_proctor_set_surface(cn_proctor_hub *h, double temp_c, const float *xyz, int n_pts,
                           const int *tri, int n_tri)
{
    if (!h || !(temp_c > -300 && temp_c < 300) || n_pts < 0 || n_pts > 65536 || n_tri < 0 ||
        n_tri > 4 * 65536 || (n_tri && (!xyz || !tri)))
        return CN_EINVAL;
    for (int i = 0; i < 3 * n_tri; i++)
        if (tri[i] < 0 || tri[i] >= n_pts)
            return CN_EINVAL;
    float *x = NULL;
    int *t = NULL;
    if (n_tri > 0) {
        x = malloc(sizeof(float) * 3 * (size_t)n_pts);
        t = malloc(sizeof(int) * 3 * (size_t)n_tri);
        if (!x || !t) {
            free(x);
            free(t);
            return CN_ENOMEM;
        }
        memcpy(x, xyz, sizeof(float) * 3 * (size_t)n_pts);
        memcpy(t, tri, sizeof(int) * 3 * (size_t)n_tri);
    }
    int r = CN_OK;
    pthread_mutex_lock(&h->mu);
    int k = 0;
    while (k < CN__SURFACES_MAX && !(h->surf[k].used && h->surf[k].temp_c == temp_c))
        k++;
    if (k == CN__SURFACES_MAX)
        for (k = 0; k < CN__SURFACES_MAX && h->surf[k].used; k++)
            ;
    if (k == CN__SURFACES_MAX) {
        r = CN_ENOMEM;
    } else {
        cn__surface *s = &h->surf[k];
        free(s->xyz);
        free(s->tri);
        *s = (cn__surface){.temp_c = temp_c, .used = true, .xyz = x, .tri = t,
                           .n_pts = n_tri > 0 ? n_pts : 0, .n_tri = n_tri};
        h->surf_version++;
        x = NULL;
        t = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    free(x);
    free(t);
    return r;
}

uint64_t cn_proctor_surfaces_version(cn_proctor_hub *h)
{
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    uint64_t v = h->surf_version;
    pthread_mutex_unlock(&h->mu);
    return v;
}

uint64_t cn_proctor_surfaces_visit(cn_proctor_hub *h, cn_proctor_surface_fn fn, void *user)
{
    if (!h || !fn)
        return 0;
    pthread_mutex_lock(&h->mu);
    for (int k = 0; k < CN__SURFACES_MAX; k++)
        if (h->surf[k].used)
            fn(user, h->surf[k].temp_c, h->surf[k].xyz, h->surf[k].n_pts, h->surf[k].tri,
               h->surf[k].n_tri);
    uint64_t v = h->surf_version;
    pthread_mutex_unlock(&h->mu);
    return v;
}
