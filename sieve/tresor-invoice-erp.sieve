# vnd.tresor.invoice for an ERP (e.g. kivitendo) that imports invoices from
# one intake folder: every trusted invoice is filed per supplier into the
# read-only archive (tresor_archive = Rechnungen/*) and a copy goes to the
# intake folder ERP-Import, outside the archive, which the ERP may flag,
# move or delete after importing. Invoices that fail a check go to review.
require ["fileinto", "mailbox", "copy", "variables", "imap4flags", "vnd.tresor.invoice"];
if invoice {
  addflag "$tresor_${invoice.verdict}";
  if string :is "${invoice.verdict}" "trusted" {
    fileinto :copy :create "ERP-Import";
    fileinto :create "Rechnungen${invoice.separator}${invoice.folder}";
  } else {
    addflag "$Pruefen";
    fileinto :create "Rechnungen${invoice.separator}Pruefen";
  }
  stop;
}
