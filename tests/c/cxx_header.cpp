// The public header must compile as C++17 (with -Wall -Wextra -Werror) and link from C++.
#include <fluximage.h>

#include <cstdio>
#include <cstring>

int main() {
    const char *v = flx_version();
    std::printf("libfluximage %s from C++\n", v);
    flx_options *o = flx_options_new();
    flx_status s = flx_options_set_format(o, FLX_FORMAT_AVIF);
    flx_options_free(o);
    return (std::strcmp(v, FLX_VERSION_STRING) == 0 && s == FLX_OK) ? 0 : 1;
}
