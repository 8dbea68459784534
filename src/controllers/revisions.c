/* SPDX-License-Identifier: Apache-2.0
 * revisions.c - ControllerRevision history shared by the StatefulSet and
 * DaemonSet controllers (upstream's pkg/controller/history and the two
 * controllers' snapshot code): a revision holds the owner's pod template
 * as the strategic-merge patch `kubectl rollout undo` applies
 * ({"spec":{"template":{...,"$patch":"replace"}}}), is named
 * <owner>-<hash>, labelled with the template's labels plus the hash, and
 * annotated as the owner. A template equal to an older revision (a
 * rollback) renumbers that revision to the newest instead of making a new
 * one; beyond revisionHistoryLimit the oldest revisions no one uses go. */
#include "controllers/controller.h"
#include "controllers/workload.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"

#define REVISIONS_PATH "/apis/apps/v1/namespaces/%s/controllerrevisions"

static json_t *
revision_data(const json_t *tmpl)
{
    json_t *t = json_deep_copy(tmpl);

    json_object_set_new(t, "$patch", json_string("replace"));
    return json_pack("{s:{s:o}}", "spec", "template", t);
}

json_t *
wl_revision_template(const json_t *rev)
{
    return json_object_get(json_object_get(json_object_get(rev, "data"), "spec"), "template");
}

static bool
same_template(const json_t *rev, const json_t *tmpl)
{
    json_t *t = json_deep_copy(wl_revision_template(rev));
    bool same;

    json_object_del(t, "$patch");
    same = json_equal(t, (json_t *)tmpl);
    json_decref(t);
    return same;
}

static json_t *
owner_annotations(const json_t *owner)
{
    json_t *ann =
        json_deep_copy(json_object_get(json_object_get(owner, "metadata"), "annotations"));

    if (!json_is_object(ann)) {
        json_decref(ann);
        return json_object();
    }
    /* kubectl's last-applied copy of the owner is not part of its history */
    json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
    return ann;
}

int
wl_revision_ensure(struct ctl *c, const json_t *owner, json_t *revisions, const char *hash_label,
                   char *name_out, size_t name_len, struct k3c_err *err)
{
    const json_t *tmpl = json_object_get(json_object_get(owner, "spec"), "template");
    const char *ns = wl_str(owner, "metadata.namespace");
    const char *name = wl_str(owner, "metadata.name");
    int64_t max = 0;
    json_t *match = NULL, *rev;
    size_t i;
    char hash[11], path[512];

    json_array_foreach(revisions, i, rev)
    {
        if (wl_int(rev, "revision", 0) > max)
            max = wl_int(rev, "revision", 0);
        if (same_template(rev, tmpl))
            match = rev;
    }
    if (match) {
        snprintf(name_out, name_len, "%s", wl_str(match, "metadata.name"));
        if (wl_int(match, "revision", 0) != max) {
            /* a rollback to an older template: it becomes the newest revision */
            _cleanup_json_ json_t *patch = json_pack("{s:I}", "revision", (json_int_t)(max + 1));

            snprintf(path, sizeof(path), REVISIONS_PATH "/%s", ns, name_out);
            if (ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err) >= 300)
                return -1;
            json_object_set_new(match, "revision", json_integer(max + 1));
        }
        return 0;
    }
    {
        _cleanup_json_ json_t *out = NULL;
        json_t *labels =
            json_deep_copy(json_object_get(json_object_get(tmpl, "metadata"), "labels"));
        json_t *body;
        long code;

        wl_template_hash(tmpl, hash);
        if (!json_is_object(labels)) {
            json_decref(labels);
            labels = json_object();
        }
        json_object_set_new(labels, hash_label, json_string(hash));
        body = json_pack("{s:s,s:s,s:{s:s++,s:s,s:o,s:o,s:[o]},s:o,s:I}", "apiVersion", "apps/v1",
                         "kind", "ControllerRevision", "metadata", "name", name, "-", hash,
                         "namespace", ns, "labels", labels, "annotations", owner_annotations(owner),
                         "ownerReferences", ctl_owner_ref(owner), "data", revision_data(tmpl),
                         "revision", (json_int_t)(max + 1));
        snprintf(path, sizeof(path), REVISIONS_PATH, ns);
        code = ctl_api(c, "POST", path, NULL, body, &out, err);
        json_decref(body);
        if (code == 409) { /* made in an earlier sync the informer has not shown yet */
            k3c_err_clear(err);
            out = NULL;
        } else if (code < 200 || code >= 300) {
            return -1;
        }
        snprintf(name_out, name_len, "%s-%s", name, hash);
        if (out)
            json_array_append(revisions, out);
    }
    return 0;
}

void
wl_revisions_trim(struct ctl *c, const json_t *owner, json_t *revisions, const char *const *keep)
{
    int64_t limit = wl_int(owner, "spec.revisionHistoryLimit", 10);
    size_t n_keep = 0;
    struct k3c_err err = {0};

    while (keep[n_keep])
        n_keep++;
    while (json_array_size(revisions) > 0 &&
           (int64_t)json_array_size(revisions) - (int64_t)n_keep > limit) {
        json_t *oldest = NULL, *rev;
        size_t i;
        char path[512];

        json_array_foreach(revisions, i, rev)
        {
            const char *name = wl_str(rev, "metadata.name");
            bool kept = false;

            for (size_t k = 0; k < n_keep; k++)
                kept |= name && strcmp(name, keep[k]) == 0;
            if (kept)
                continue;
            if (!oldest || wl_int(rev, "revision", 0) < wl_int(oldest, "revision", 0))
                oldest = rev;
        }
        if (!oldest)
            return;
        snprintf(path, sizeof(path), REVISIONS_PATH "/%s", wl_str(owner, "metadata.namespace"),
                 wl_str(oldest, "metadata.name"));
        ctl_api(c, "DELETE", path, NULL, NULL, NULL, &err);
        k3c_err_clear(&err);
        for (i = 0; i < json_array_size(revisions); i++)
            if (json_array_get(revisions, i) == oldest)
                json_array_remove(revisions, i);
    }
}
