/*  zgm-probe: built by packaging/deb/test.sh against an installed libzgm-dev (pkg-config zgm,
    linked with the shared library) and run inside the test root, so it loads libzgm.so.0 from
    libzgm0 and the libraries libzgm0 depends on.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include <stdio.h>
#include <zgm.h>

int main(void) {
    zgm_user_t* user = zgm_user_new("probe");
    if (!user) {
        fprintf(stderr, "zgm-probe: zgm_user_new: %s\n", zgm_strerror());
        return 1;
    }
    printf("libzgm %d.%d.%d: user %s\n", ZGM_VERSION_MAJOR, ZGM_VERSION_MINOR, ZGM_VERSION_PATCH,
           zgm_user_name(user));
    zgm_user_destroy(&user);
    return user == NULL ? 0 : 1;
}
