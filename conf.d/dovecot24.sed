# 90-tresor.conf for Dovecot 2.4 (Debian 13), made from the 2.3 file by
# make (90-tresor-2.4.conf): 2.4 has no plugin { } block - its settings are
# top-level - and writes lists of plugins and extensions as blocks.
1i\
## (Dovecot 2.4 / Debian 13 form, made from conf.d/90-tresor.conf)
/^plugin {$/d
/^}$/d
s/^  //
s/this global block/the global settings/
s/^#mail_plugins = \$mail_plugins tresor$/#mail_plugins {\n#  tresor = yes\n#}/
s/^#sieve_plugins = sieve_tresor$/#sieve_plugins {\n#  sieve_tresor = yes\n#}/
s/^#sieve_extensions = +vnd.tresor.invoice$/#sieve_extensions {\n#  vnd.tresor.invoice = yes\n#}/
s/^#   protocol lmtp { mail_plugins = \$mail_plugins sieve }$/#   protocol lmtp { mail_plugins { sieve = yes } }/
s/^#   sieve_plugins = sieve_tresor$/#   sieve_plugins { sieve_tresor = yes }/
s/^#   sieve_extensions = +vnd.tresor.invoice$/#   sieve_extensions { vnd.tresor.invoice = yes }/
s/^#   mail_plugins = \$mail_plugins fts fts_tresor$/#   mail_plugins { fts = yes\n#                  fts_tresor = yes }/
s/^# and, in this block,$/# and/
s/^#   fts = tresor$/#   fts tresor { }\n#   language en { default = yes }  # 2.4's fts needs a language/
s/^#   fts_enforced = yes      # a broken index fails the search instead of$/#   fts_search_add_missing = yes  # a broken index fails the search\n#   fts_search_read_fallback = no # instead of/
/^#plugin {$/,/^#}$/{
  /^#plugin {$/d
  /^#}$/d
  s/^#  # /# /
  s/^#  fts_decoder = \(.*\)$/#fts_decoder_driver = script\n#fts_decoder_script_socket_path = \1/
}
