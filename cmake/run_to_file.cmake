# run_to_file.cmake - cmake -P script: runs PROGRAM with ARGS (a ;-list) and writes
# its standard output to OUT; with GZIP=ON also writes OUT.gz (gzip -9n, as Debian
# policy wants man pages and long docs). A failing program fails the build, so a
# broken --help can never ship a half man page.
#   cmake -DPROGRAM=... -DARGS="help;--man" -DOUT=... [-DGZIP=ON] -P run_to_file.cmake
if(NOT PROGRAM OR NOT OUT)
  message(FATAL_ERROR "run_to_file: PROGRAM and OUT are required")
endif()
# Leak reports of a sanitised build would only add noise to a generated file.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")
execute_process(COMMAND ${PROGRAM} ${ARGS} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "run_to_file: '${PROGRAM} ${ARGS}' failed (${rc}): ${err}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
if(GZIP)
  execute_process(COMMAND gzip -9n -c ${OUT} OUTPUT_FILE ${OUT}.gz RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "run_to_file: gzip ${OUT} failed")
  endif()
endif()
