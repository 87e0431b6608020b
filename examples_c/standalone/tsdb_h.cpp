// tsdb.h compiles on its own as C++ (-Wall -Wextra -Wpedantic -Werror): nothing but the include.
#include "tsdb.h"
