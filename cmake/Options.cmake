# Compiler flags shared by every target.
add_library(attnlab_options INTERFACE)
# -fno-trapping-math lets GCC if-convert and vectorise loops with selects (fast_exp, masks);
# we never read FP exception flags, and results stay IEEE (unlike -ffast-math).
target_compile_options(attnlab_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -march=${ATTNLAB_ARCH}
  -fno-trapping-math -fno-math-errno>)
target_compile_definitions(attnlab_options INTERFACE ATTNLAB_VERSION="${PROJECT_VERSION}")
if(ATTNLAB_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_compile_options(attnlab_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_san}>)
  target_link_options(attnlab_options INTERFACE ${_san})
endif()
if(ATTNLAB_HAVE_CUDA)
  target_compile_definitions(attnlab_options INTERFACE ATTNLAB_HAVE_CUDA=1)
endif()
if(ATTNLAB_HAVE_CUDA)
  # Device lambdas keep each pointwise CUDA kernel a one-liner over a shared launcher.
  target_compile_options(attnlab_options INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:--extended-lambda>)
endif()
